//! A heap overflow on purpose: `make test-asan` loads this into Python the
//! way it loads the extension (built with `-Zsanitizer=address`, the runtime
//! preloaded) and requires AddressSanitizer to report it, so a setup that
//! would see no bug at all cannot pass as "zero reports".

#[no_mangle]
pub extern "C" fn read_past_the_end(n: usize) -> u8 {
    let data = vec![7u8; n];
    let at = std::hint::black_box(n);
    // Safety: none; this read is the planted bug.
    unsafe { *data.as_ptr().add(at) }
}
