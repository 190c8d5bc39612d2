"""Prior files: schema, loading with includes and clear errors, distributions, copula, sampler."""
