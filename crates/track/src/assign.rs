//! Optimal linear assignment with a cost limit, as ByteTrack's
//! `lap.lapjv(cost, extend_cost=True, cost_limit=thresh)`.
//!
//! The objective is the one LAPJV's cost-limit extension solves: choose pairs
//! (each row and column at most once, only pairs with cost ≤ limit) minimising
//! Σ(cost − limit), i.e. leaving a row and a column unmatched costs as much as
//! one pair at exactly the limit. Rather than doubling the matrix as LAPJV
//! does, we note that an IoU cost matrix is very sparse (objects overlap only
//! their neighbours): the problem splits into independent connected components
//! of feasible pairs, each usually 1×1 or 2×2, solved exactly with the
//! shortest-augmenting-path Hungarian algorithm (Jonker–Volgenant style, with
//! potentials). A scene of 50 objects thus costs little more than the IoUs.

/// Outcome of [`linear_assignment`]: matched `(row, col)` pairs in row order,
/// and the rows and columns left unmatched, ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    pub matches: Vec<(usize, usize)>,
    pub unmatched_rows: Vec<usize>,
    pub unmatched_cols: Vec<usize>,
}

/// Minimum-cost assignment of a dense `rows × cols` matrix (row-major, finite
/// costs): every row gets a distinct column when `rows ≤ cols`, every column a
/// distinct row otherwise. Returns the column of each row (`None` for the rows
/// left over when `rows > cols`).
pub fn min_cost_assignment(cost: &[f64], rows: usize, cols: usize) -> Vec<Option<usize>> {
    assert_eq!(cost.len(), rows * cols, "cost matrix shape");
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    if rows <= cols {
        hungarian(|i, j| cost[i * cols + j], rows, cols)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        let col_to_row = hungarian(|i, j| cost[j * cols + i], cols, rows);
        let mut out = vec![None; rows];
        for (c, r) in col_to_row.into_iter().enumerate() {
            out[r] = Some(c);
        }
        out
    }
}

/// Hungarian algorithm with potentials on an `n × m` matrix, `n ≤ m`,
/// O(n²·m). Returns the column assigned to each row.
fn hungarian(a: impl Fn(usize, usize) -> f64, n: usize, m: usize) -> Vec<usize> {
    debug_assert!(n <= m);
    // 1-based internally; column 0 is the virtual start of each augmenting path.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![0.0f64; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        minv.fill(f64::INFINITY);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = a(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            if j1 == 0 {
                // Only reachable with non-finite costs; bail out rather than loop.
                break;
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut row_to_col = vec![0usize; n];
    for j in 1..=m {
        if p[j] != 0 {
            row_to_col[p[j] - 1] = j - 1;
        }
    }
    row_to_col
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Optimal assignment of a `rows × cols` cost matrix (row-major) where pairs
/// costlier than `limit` (or NaN) may not be matched; see the module doc for
/// the objective.
pub fn linear_assignment(cost: &[f64], rows: usize, cols: usize, limit: f64) -> Assignment {
    assert_eq!(cost.len(), rows * cols, "cost matrix shape");
    let feasible = |i: usize, j: usize| cost[i * cols + j] <= limit;

    // Connected components of the feasible-pair graph; rows are nodes
    // 0..rows, columns rows..rows+cols.
    let mut parent: Vec<usize> = (0..rows + cols).collect();
    let mut has_edge = vec![false; rows + cols];
    for i in 0..rows {
        for j in 0..cols {
            if feasible(i, j) {
                has_edge[i] = true;
                has_edge[rows + j] = true;
                let (a, b) = (find(&mut parent, i), find(&mut parent, rows + j));
                if a != b {
                    parent[a] = b;
                }
            }
        }
    }
    let mut comp_of_root = vec![usize::MAX; rows + cols];
    let mut comps: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    for node in (0..rows + cols).filter(|&n| has_edge[n]) {
        let r = find(&mut parent, node);
        if comp_of_root[r] == usize::MAX {
            comp_of_root[r] = comps.len();
            comps.push((Vec::new(), Vec::new()));
        }
        let c = &mut comps[comp_of_root[r]];
        if node < rows {
            c.0.push(node);
        } else {
            c.1.push(node - rows);
        }
    }

    let mut row_match = vec![None; rows];
    let mut sub = Vec::new();
    for (crow, ccol) in &comps {
        if crow.len() == 1 && ccol.len() == 1 {
            row_match[crow[0]] = Some(ccol[0]);
            continue;
        }
        // Feasible pairs cost (c − limit) ≤ 0; infeasible ones 0, the same as
        // leaving both unmatched, so a full assignment of the smaller side
        // minimises exactly the thresholded objective.
        sub.clear();
        for &i in crow {
            for &j in ccol {
                sub.push(if feasible(i, j) {
                    cost[i * cols + j] - limit
                } else {
                    0.0
                });
            }
        }
        for (ri, cj) in min_cost_assignment(&sub, crow.len(), ccol.len())
            .into_iter()
            .enumerate()
        {
            if let Some(cj) = cj {
                let (i, j) = (crow[ri], ccol[cj]);
                if feasible(i, j) {
                    row_match[i] = Some(j);
                }
            }
        }
    }

    let mut out = Assignment::default();
    let mut col_used = vec![false; cols];
    for (i, m) in row_match.iter().enumerate() {
        match m {
            Some(j) => {
                out.matches.push((i, *j));
                col_used[*j] = true;
            }
            None => out.unmatched_rows.push(i),
        }
    }
    out.unmatched_cols = (0..cols).filter(|&j| !col_used[j]).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny deterministic LCG (Knuth's MMIX constants): property tests need
    /// reproducible randomness, not a `rand` dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next_f64(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next_f64() * n as f64) as usize % n
        }
    }

    /// Best Σ(cost − limit) over all partial matchings using feasible pairs.
    fn brute_thresholded(cost: &[f64], rows: usize, cols: usize, limit: f64) -> f64 {
        fn rec(i: usize, used: &mut [bool], c: &[f64], rows: usize, cols: usize, l: f64) -> f64 {
            if i == rows {
                return 0.0;
            }
            let mut best = rec(i + 1, used, c, rows, cols, l);
            for j in 0..cols {
                if !used[j] && c[i * cols + j] <= l {
                    used[j] = true;
                    best = best.min(c[i * cols + j] - l + rec(i + 1, used, c, rows, cols, l));
                    used[j] = false;
                }
            }
            best
        }
        rec(0, &mut vec![false; cols], cost, rows, cols, limit)
    }

    /// Best total cost over all complete assignments of the smaller side.
    fn brute_full(cost: &[f64], rows: usize, cols: usize) -> f64 {
        fn rec(i: usize, used: &mut [bool], c: &[f64], rows: usize, cols: usize) -> f64 {
            if i == rows {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for j in 0..cols {
                if !used[j] {
                    used[j] = true;
                    best = best.min(c[i * cols + j] + rec(i + 1, used, c, rows, cols));
                    used[j] = false;
                }
            }
            best
        }
        if rows <= cols {
            rec(0, &mut vec![false; cols], cost, rows, cols)
        } else {
            let t: Vec<f64> = (0..cols)
                .flat_map(|j| (0..rows).map(move |i| (i, j)))
                .map(|(i, j)| cost[i * cols + j])
                .collect();
            rec(0, &mut vec![false; rows], &t, cols, rows)
        }
    }

    #[test]
    fn min_cost_assignment_equals_brute_force() {
        let mut rng = Lcg(42);
        for _ in 0..2000 {
            let rows = 1 + rng.below(6);
            let cols = 1 + rng.below(6);
            let cost: Vec<f64> = (0..rows * cols)
                .map(|_| (rng.next_f64() * 10.0).round() / 2.0)
                .collect();
            let a = min_cost_assignment(&cost, rows, cols);
            let assigned: Vec<(usize, usize)> = a
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.map(|c| (i, c)))
                .collect();
            assert_eq!(assigned.len(), rows.min(cols));
            let mut seen = vec![false; cols];
            for &(_, c) in &assigned {
                assert!(!seen[c], "column used twice");
                seen[c] = true;
            }
            let total: f64 = assigned.iter().map(|&(i, j)| cost[i * cols + j]).sum();
            let best = brute_full(&cost, rows, cols);
            assert!(
                (total - best).abs() < 1e-9,
                "{rows}x{cols} {cost:?}: {total} vs {best}"
            );
        }
    }

    #[test]
    fn thresholded_assignment_equals_brute_force() {
        let mut rng = Lcg(7);
        for case in 0..3000 {
            let rows = rng.below(7);
            let cols = rng.below(7);
            let limit = 0.8;
            // IoU-like costs: many pairs do not overlap at all (cost 1 or ∞).
            let cost: Vec<f64> = (0..rows * cols)
                .map(|_| match rng.below(4) {
                    0 => 1.0,
                    1 if case % 2 == 0 => f64::INFINITY,
                    _ => rng.next_f64(),
                })
                .collect();
            let a = linear_assignment(&cost, rows, cols, limit);
            let mut row_seen = vec![false; rows];
            let mut col_seen = vec![false; cols];
            for &(i, j) in &a.matches {
                assert!(cost[i * cols + j] <= limit, "infeasible pair matched");
                assert!(!row_seen[i] && !col_seen[j], "duplicate");
                row_seen[i] = true;
                col_seen[j] = true;
            }
            for &i in &a.unmatched_rows {
                assert!(!row_seen[i]);
                row_seen[i] = true;
            }
            for &j in &a.unmatched_cols {
                assert!(!col_seen[j]);
                col_seen[j] = true;
            }
            assert!(row_seen.iter().all(|&s| s) && col_seen.iter().all(|&s| s));
            let got: f64 = a
                .matches
                .iter()
                .map(|&(i, j)| cost[i * cols + j] - limit)
                .sum();
            let best = brute_thresholded(&cost, rows, cols, limit);
            assert!(
                (got - best).abs() < 1e-9,
                "{rows}x{cols} {cost:?}: {got} vs {best}"
            );
        }
    }

    #[test]
    fn prefers_the_globally_better_pairing() {
        // Greedy would take (0,0) at 0.1 and leave row 1 unmatched; the optimum
        // pairs both rows.
        let cost = [0.1, 0.3, 0.2, 1.0];
        let a = linear_assignment(&cost, 2, 2, 0.8);
        assert_eq!(a.matches, vec![(0, 1), (1, 0)]);
        assert!(a.unmatched_rows.is_empty() && a.unmatched_cols.is_empty());
        let empty = linear_assignment(&[], 0, 3, 0.8);
        assert_eq!(empty.unmatched_cols, vec![0, 1, 2]);
    }
}
