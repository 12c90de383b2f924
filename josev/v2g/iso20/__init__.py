"""ISO 15118-20 pieces both sides use: the negotiated namespaces and the RationalNumber values."""
