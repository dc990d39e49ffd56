"""Format-agnostic PTransforms: encode, split, write, commit."""
