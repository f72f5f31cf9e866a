//! PDA derivation through the syscalls with out-parameters: the upstream BPF backend cannot
//! return `(Address, u8)` or `Result<Address, _>` by value from a non-inlined call.

use pinocchio::Address;

/// `find_program_address`: writes the canonical PDA into `out` and returns its bump, or
/// `None` when no bump works.
#[inline(always)]
pub fn find(seeds: &[&[u8]], program_id: &Address, out: &mut [u8; 32]) -> Option<u8> {
    #[cfg(target_arch = "bpf")]
    {
        let mut bump = 0u8;
        // SAFETY: `seeds` is a slice of fat slices as the syscall expects; `out` has 32 bytes.
        let rc = unsafe {
            solana_define_syscall::definitions::sol_try_find_program_address(
                seeds.as_ptr() as *const u8,
                seeds.len() as u64,
                program_id.as_ref().as_ptr(),
                out.as_mut_ptr(),
                &mut bump as *mut u8,
            )
        };
        if rc == 0 { Some(bump) } else { None }
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        let _ = (seeds, program_id, out);
        None
    }
}

/// `create_program_address`: writes the PDA into `out`; `false` when the seeds land on the
/// curve.
#[inline(always)]
pub fn create(seeds: &[&[u8]], program_id: &Address, out: &mut [u8; 32]) -> bool {
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: as in `find`.
        let rc = unsafe {
            solana_define_syscall::definitions::sol_create_program_address(
                seeds.as_ptr() as *const u8,
                seeds.len() as u64,
                program_id.as_ref().as_ptr(),
                out.as_mut_ptr(),
            )
        };
        rc == 0
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        let _ = (seeds, program_id, out);
        false
    }
}

/// Whether `a` is the PDA found for `seeds`.
#[inline(always)]
pub fn is_found(a: &Address, seeds: &[&[u8]], program_id: &Address) -> bool {
    let mut out = [0u8; 32];
    find(seeds, program_id, &mut out).is_some() && a.as_ref() == &out[..]
}
