"""Device-side tools: the protocol client behind `hoot talk` and the benchmarks."""
