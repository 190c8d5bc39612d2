"""Prior files, host-side (no JAX): reading with includes, validation with clear errors, distribution families, copula."""
