//! IAM's glob matching: `*` and `?` in actions (case-insensitive) and resources
//! (case-sensitive), and the two questions the checks ask of patterns: does one pattern cover
//! another, and can two patterns match the same string.
//!
//! A Deny cancels an Allow only when its patterns cover the Allow's, so these answers must
//! be sound: a `true` is always right.

use super::policy::ActionElement;

/// Case handling for glob matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Actions and condition operators: `S3:putobject` is `s3:PutObject`.
    Insensitive,
    /// Resource ARNs.
    Sensitive,
}

fn chars(s: &str, case: Case) -> Vec<char> {
    match case {
        Case::Insensitive => s.to_lowercase().chars().collect(),
        Case::Sensitive => s.chars().collect(),
    }
}

/// IAM glob match: `*` matches any run of characters (also none), `?` matches one.
pub fn glob_match(pattern: &str, text: &str, case: Case) -> bool {
    let p = chars(pattern, case);
    let t = chars(text, case);
    // Iterative wildcard matching with backtracking to the last star.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// True when every string that `inner` matches is also matched by `outer`. Sound (a `true`
/// is always right) and exact for the patterns policies use in practice: a wildcard of
/// `inner` can only be absorbed by a `*` of `outer`.
pub fn glob_covers(outer: &str, inner: &str, case: Case) -> bool {
    // (a, b): outer[..a] can consume inner[..b].
    walk(outer, inner, case, &|o, i, a, b, next| {
        let (n, m) = (o.len(), i.len());
        if a < n && o[a] == '*' {
            // The star swallows any inner symbol, wildcards too.
            star(next, (a + 1, b), (b < m).then_some((a, b + 1)));
        } else if a < n && b < m {
            let ok = match (o[a], i[b]) {
                (_, '*') => false,
                ('?', _) => true,
                (_, '?') => false,
                (x, y) => x == y,
            };
            if ok {
                next.push((a + 1, b + 1));
            }
        }
    })
}

/// True when some string is matched by both patterns.
pub fn glob_intersects(a: &str, b: &str, case: Case) -> bool {
    // (i, j): some string is matched by both x[..i] and y[..j].
    walk(a, b, case, &|x, y, i, j, next| {
        let (n, m) = (x.len(), y.len());
        if i < n && x[i] == '*' {
            star(next, (i + 1, j), (j < m).then_some((i, j + 1)));
        }
        if j < m && y[j] == '*' {
            star(next, (i, j + 1), (i < n).then_some((i + 1, j)));
        }
        if i < n && j < m && x[i] != '*' && y[j] != '*' {
            let ok = x[i] == '?' || y[j] == '?' || x[i] == y[j];
            if ok {
                next.push((i + 1, j + 1));
            }
        }
    })
}

/// The moves of a `*`: it matches nothing more (`ends`), or one more symbol of the other
/// pattern (`swallows`, unless that one is at its end).
fn star(next: &mut Vec<(usize, usize)>, ends: (usize, usize), swallows: Option<(usize, usize)>) {
    next.push(ends);
    next.extend(swallows);
}

/// One move of [`walk`]: from the two patterns and a reachable cell, the cells one move on.
type Step = dyn Fn(&[char], &[char], usize, usize, &mut Vec<(usize, usize)>);

/// Walks the grid of positions in patterns `a` and `b` from (0, 0): `step` lists the cells
/// one move away from a reachable cell (always further on). True when the end of both is
/// reachable.
fn walk(a: &str, b: &str, case: Case, step: &Step) -> bool {
    let (x, y) = (chars(a, case), chars(b, case));
    let (n, m) = (x.len(), y.len());
    let mut reach = vec![vec![false; m + 1]; n + 1];
    reach[0][0] = true;
    let mut next = Vec::new();
    for i in 0..=n {
        for j in 0..=m {
            if !reach[i][j] {
                continue;
            }
            next.clear();
            step(&x, &y, i, j, &mut next);
            for &(k, l) in &next {
                reach[k][l] = true;
            }
        }
    }
    reach[n][m]
}

/// True when the action element lets through the concrete action `action` (for example
/// `s3:PutObject`).
pub fn action_matches(element: &ActionElement, action: &str) -> bool {
    match element {
        ActionElement::Action(patterns) => patterns
            .iter()
            .any(|p| glob_match(p, action, Case::Insensitive)),
        ActionElement::NotAction(patterns) => !patterns
            .iter()
            .any(|p| glob_match(p, action, Case::Insensitive)),
    }
}

/// True when every action `inner` allows is also matched by `outer`, for S3 requests.
pub fn actions_cover(outer: &ActionElement, inner: &ActionElement) -> bool {
    match (outer, inner) {
        (ActionElement::Action(outer), ActionElement::Action(inner)) => inner
            .iter()
            .all(|i| outer.iter().any(|o| glob_covers(o, i, Case::Insensitive))),
        // Everything except a few: only an outer pattern matching every S3 action covers it.
        (ActionElement::Action(outer), ActionElement::NotAction(_)) => outer
            .iter()
            .any(|o| glob_covers(o, "s3:*", Case::Insensitive)),
        // Outer is "everything except X": covers the inner patterns none of which can
        // meet an excluded pattern.
        (ActionElement::NotAction(excluded), ActionElement::Action(inner)) => {
            inner.iter().all(|i| {
                !excluded
                    .iter()
                    .any(|x| glob_intersects(x, i, Case::Insensitive))
            })
        }
        // Everything except X covers everything except Y when X is within Y.
        (ActionElement::NotAction(excluded), ActionElement::NotAction(inner_excluded)) => {
            excluded.iter().all(|x| {
                inner_excluded
                    .iter()
                    .any(|y| glob_covers(y, x, Case::Insensitive))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_match_basics() {
        assert!(glob_match("s3:Get*", "s3:GetObject", Case::Insensitive));
        assert!(glob_match(
            "S3:putobject",
            "s3:PutObject",
            Case::Insensitive
        ));
        assert!(glob_match("*", "s3:PutObject", Case::Insensitive));
        assert!(glob_match(
            "s3:?etObject",
            "s3:GetObject",
            Case::Insensitive
        ));
        assert!(!glob_match("s3:Get*", "s3:PutObject", Case::Insensitive));
        assert!(!glob_match(
            "arn:aws:s3:::B/*",
            "arn:aws:s3:::b/x",
            Case::Sensitive
        ));
        assert!(glob_match("a*b*c", "axxbyyc", Case::Sensitive));
        assert!(!glob_match("a*b*c", "axxbyy", Case::Sensitive));
    }

    #[test]
    fn glob_covers_basics() {
        assert!(glob_covers("s3:*", "s3:Get*", Case::Insensitive));
        assert!(glob_covers("*", "s3:Get*", Case::Insensitive));
        assert!(glob_covers("s3:Get*", "s3:GetObject", Case::Insensitive));
        assert!(!glob_covers("s3:Get*", "s3:*", Case::Insensitive));
        assert!(!glob_covers("s3:GetObject", "s3:Get*", Case::Insensitive));
        assert!(glob_covers(
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b/x/*",
            Case::Sensitive
        ));
        assert!(!glob_covers(
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/*",
            Case::Sensitive
        ));
    }

    #[test]
    fn glob_intersects_basics() {
        assert!(glob_intersects("s3:Get*", "s3:*Object", Case::Insensitive));
        assert!(!glob_intersects("s3:Get*", "s3:Put*", Case::Insensitive));
        assert!(glob_intersects("a?c", "*c", Case::Sensitive));
    }
}
