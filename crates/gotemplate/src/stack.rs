//! Deep recursion without stack overflows, and without a thread per call:
//! Go's goroutine stacks grow, so Go accepts nesting (parentheses, nested
//! blocks, `template` recursion up to 100000) that would overflow a fixed
//! Rust stack. Parsing and execution count their nesting and, every so many
//! levels, continue on a fresh scoped thread with a large stack. Ordinary
//! templates never nest that deep and never pay for a thread.

/// Nesting level at which the work first moves off the caller's stack
/// (which may be a small worker-thread stack).
const FIRST_HOP: usize = 48;
/// Nesting levels run on each fresh stack after the first hop.
const HOP: usize = 384;
/// Size of each fresh stack (address space; pages are committed on use).
const STACK_SIZE: usize = 64 << 20;

/// Whether the nesting level `depth` starts a new stack.
pub fn hop_needed(depth: usize) -> bool {
    depth == FIRST_HOP || (depth > FIRST_HOP && (depth - FIRST_HOP).is_multiple_of(HOP))
}

/// Runs `f` on a scoped thread with a large stack, or inline if the thread
/// cannot be spawned.
pub fn on_new_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let mut f = Some(f);
    let result = std::thread::scope(|scope| {
        let builder = std::thread::Builder::new().name("gotemplate".into()).stack_size(STACK_SIZE);
        let spawn_f = &mut f;
        match builder.spawn_scoped(scope, move || spawn_f.take().map(|f| f())) {
            Ok(h) => match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => None,
        }
    });
    match result {
        Some(r) => r,
        // The thread could not be spawned: run inline.
        None => match f.take() {
            Some(f) => f(),
            None => unreachable_none(),
        },
    }
}

/// The worker took `f` but returned nothing, which `on_new_stack` rules out.
fn unreachable_none<T>() -> T {
    std::panic::resume_unwind(Box::new("gotemplate: worker thread returned no result"))
}
