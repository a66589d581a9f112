//! Depth-first post-order over a graph given by a `needs` function, with an explicit stack so
//! that a chain of any length takes no call stack.

/// Every node reachable from `roots` (in turn) through `needs`, each once and after the nodes
/// it needs: the order in which a recursive "do what I need first, in order, then me" from each
/// root would finish them. Nodes are `0..len`; a root or need out of range is skipped. A need
/// met again while still on the stack (a cycle) is skipped, so the node that closes a cycle
/// comes before one it needs. `needs` is called once per node placed.
pub fn post_order(
    len: usize,
    roots: &[usize],
    mut needs: impl FnMut(usize) -> Vec<usize>,
) -> Vec<usize> {
    // 0: not seen, 1: on the stack, 2: placed.
    let mut state = vec![0u8; len];
    let mut order = Vec::new();
    for &root in roots {
        if state.get(root) != Some(&0) {
            continue;
        }
        state[root] = 1;
        let mut stack: Vec<(usize, Vec<usize>, usize)> = vec![(root, needs(root), 0)];
        while let Some((node, wanted, next)) = stack.last_mut() {
            if let Some(&n) = wanted.get(*next) {
                *next += 1;
                if state.get(n) == Some(&0) {
                    state[n] = 1;
                    let more = needs(n);
                    stack.push((n, more, 0));
                }
            } else {
                state[*node] = 2;
                order.push(*node);
                stack.pop();
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recursive definition, for comparison.
    fn recursive(len: usize, roots: &[usize], needs: &dyn Fn(usize) -> Vec<usize>) -> Vec<usize> {
        fn visit(
            n: usize,
            needs: &dyn Fn(usize) -> Vec<usize>,
            state: &mut [u8],
            out: &mut Vec<usize>,
        ) {
            state[n] = 1;
            for m in needs(n) {
                if state.get(m) == Some(&0) {
                    visit(m, needs, state, out);
                }
            }
            state[n] = 2;
            out.push(n);
        }
        let mut state = vec![0u8; len];
        let mut out = Vec::new();
        for &r in roots {
            if state.get(r) == Some(&0) {
                visit(r, needs, &mut state, &mut out);
            }
        }
        out
    }

    #[test]
    fn the_same_order_as_the_recursion_on_random_graphs_with_cycles() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..200 {
            let len = 1 + next(12) as usize;
            let edges: Vec<Vec<usize>> = (0..len)
                .map(|_| {
                    (0..next(4))
                        .map(|_| next(len as u64 + 1) as usize)
                        .collect()
                })
                .collect();
            let roots: Vec<usize> = (0..next(5))
                .map(|_| next(len as u64 + 1) as usize)
                .collect();
            let needs = |n: usize| edges[n].clone();
            assert_eq!(
                post_order(len, &roots, needs),
                recursive(len, &roots, &needs),
                "{edges:?} {roots:?}"
            );
        }
    }

    #[test]
    fn a_chain_of_a_million_takes_no_call_stack() {
        let n = 1_000_000;
        let order = post_order(n, &[0], |i| if i + 1 < n { vec![i + 1] } else { vec![] });
        assert_eq!(order.len(), n);
        assert_eq!(order[0], n - 1);
        assert_eq!(order[n - 1], 0);
    }
}
