"""SE-ResNeXt: a block of one's own (Hu et al., Squeeze-and-Excitation Networks) for ablate."""
