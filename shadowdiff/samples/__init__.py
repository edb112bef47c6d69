"""The bundled sample service (baseline and candidate builds), its traffic and its rules."""

from shadowdiff.samples.paths import sample_rules_dir, sample_traffic_dir

__all__ = ["sample_rules_dir", "sample_traffic_dir"]
