//! Running deep recursion on a thread with a large stack: Go's goroutine
//! stacks grow, so Go accepts nesting (parentheses, `template` calls) that
//! would overflow a Rust thread's fixed stack.

/// The stack size of the worker thread: address space only; pages are
/// committed as the recursion touches them.
const STACK_SIZE: usize = 1 << 30;

std::thread_local! {
    /// Set on the worker thread, so nested parses and executions (Helm's
    /// `include` and `tpl`) run inline instead of spawning again.
    static ON_BIG_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` on a scoped thread with a large stack, or inline if already on
/// one or if the thread cannot be spawned.
pub fn with_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if ON_BIG_STACK.with(std::cell::Cell::get) {
        return f();
    }
    let mut f = Some(f);
    let result = std::thread::scope(|scope| {
        let builder = std::thread::Builder::new().name("gotemplate".into()).stack_size(STACK_SIZE);
        let spawn_f = &mut f;
        let handle = builder.spawn_scoped(scope, move || {
            ON_BIG_STACK.with(|b| b.set(true));
            spawn_f.take().map(|f| f())
        });
        match handle {
            Ok(h) => h.join().ok().flatten(),
            Err(_) => None,
        }
    });
    match result {
        Some(r) => r,
        // The spawn failed (or the thread panicked before taking `f`): run inline.
        None => match f.take() {
            Some(f) => f(),
            None => std::panic::resume_unwind(Box::new("gotemplate worker thread panicked")),
        },
    }
}
