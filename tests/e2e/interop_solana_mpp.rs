//! Interop with `@solana/mpp` (npm): see interop/js.
