//! Work on a cluster's thousands of chains spread over the machine's cores:
//! a slice cut into as many parts as there are cores (each at least `least`
//! items long), each part worked on its own thread, the results in order.
//! Below `2 * least` items it is one call on this thread, so a small cluster
//! costs no thread.

/// `work(from, part)` on each consecutive part of `items` (`from`: the
/// index of the part's first item), the parts' results in `items`' order.
/// A panic in a part is a panic here.
pub fn parts<T, R, F>(items: &[T], least: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &[T]) -> R + Sync,
{
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / least.max(1))
        .max(1);
    parts_on(threads, items, work)
}

/// [`parts`] on exactly `threads` threads (at most one per item).
fn parts_on<T, R, F>(threads: usize, items: &[T], work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &[T]) -> R + Sync,
{
    if threads <= 1 || items.len() <= 1 {
        return vec![work(0, items)];
    }
    let size = items.len().div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        // A part that gets no thread (the system has none to give) is
        // worked on here.
        let running: Vec<Result<_, R>> = items
            .chunks(size)
            .enumerate()
            .map(|(n, part)| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, move || work(n * size, part))
                    .map_err(|_| work(n * size, part))
            })
            .collect();
        running
            .into_iter()
            .map(|r| match r {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                Err(done) => done,
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_item_once_in_order() {
        let items: Vec<usize> = (0..1001).collect();
        for threads in [1, 2, 3, 7, 1001, 5000] {
            let got: Vec<usize> = parts_on(threads, &items, |from, part| {
                assert_eq!(part.first().copied(), Some(from));
                part.to_vec()
            })
            .concat();
            assert_eq!(got, items, "on {threads} threads");
        }
    }

    #[test]
    fn a_small_slice_is_worked_on_this_thread() {
        let here = std::thread::current().id();
        let on = parts(&[1, 2, 3], 500, |_, _| std::thread::current().id());
        assert_eq!(on, vec![here]);
        assert_eq!(parts(&[] as &[u8], 500, |_, p| p.len()), vec![0]);
    }
}
