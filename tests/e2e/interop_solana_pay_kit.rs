//! Interop with `solana-pay-kit` (PyPI): see interop/py.
