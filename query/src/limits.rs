//! Limits on what a statement may be: how long its text is and how deeply its expressions nest.
//!
//! They exist so that no statement a client sends can exhaust the server: a parse, bind or plan
//! walks the statement recursively, and a statement nested deeper than the thread's stack would
//! abort the process. Flat lists are not nesting: `IN` with 100,000 values, an `OR` or `AND` of
//! 20,000 terms, a `||` chain and 5,000 `UNION ALL` branches are taken apart iteratively by the
//! binder and planned as one hashed set, balanced trees or one n-ary node. What is left to nest
//! (parentheses, function calls, arithmetic chains, subqueries) is bounded by
//! [`SqlLimits::max_expression_depth`], and everything that walks a statement runs on a stack
//! grown to what the statement can need ([`with_stack_for`]).

use std::cell::Cell;

use crate::error::{Error, Result};

/// The default of [`SqlLimits::max_query_bytes`]: 8 MiB (an `IN` list of 100,000 UUIDs is 4 MB).
pub const DEFAULT_MAX_QUERY_BYTES: usize = 8 << 20;

/// The default of [`SqlLimits::max_expression_depth`] (ClickHouse's `max_ast_depth` is 1000 too).
pub const DEFAULT_MAX_EXPRESSION_DEPTH: usize = 1000;

/// Limits on the statements an engine accepts (`--query-bytes-max`,
/// `--expression-depth-max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// The longest statement text accepted, in bytes (`QUERY_TOO_LARGE` beyond).
    pub max_query_bytes: usize,
    /// How deeply expressions and subqueries may nest (`EXPRESSION_TOO_DEEP` beyond). Flat
    /// lists (`IN`, `AND`/`OR`/`||` chains, `UNION ALL` branches) do not count.
    pub max_expression_depth: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        SqlLimits {
            max_query_bytes: DEFAULT_MAX_QUERY_BYTES,
            max_expression_depth: DEFAULT_MAX_EXPRESSION_DEPTH,
        }
    }
}

/// Stack a statement may need per byte of its text: a flat chain of `N` binary operators
/// (`1+1+1...`, two bytes a link) is an AST `N` deep, which sqlparser's derived `Drop`,
/// `Clone` and `PartialEq` walk recursively (measured in `tests::deep_ast_drop_stack`: under
/// 100 bytes of stack a link in a debug build).
const STACK_BYTES_PER_TEXT_BYTE: usize = 128;

/// Stack every statement gets at least while it is parsed, bound and planned.
const MIN_STATEMENT_STACK: usize = 4 << 20;

/// The stack a statement of `text_len` bytes can need while it is walked.
pub fn stack_for(text_len: usize) -> usize {
    MIN_STATEMENT_STACK.saturating_add(text_len.saturating_mul(STACK_BYTES_PER_TEXT_BYTE))
}

/// Runs `f` with at least `stack_for(text_len)` bytes of stack left: on the current stack when
/// it has that much, else on a freshly mapped one (lazily committed: only what `f` touches costs
/// memory).
pub fn with_stack_for<R>(text_len: usize, f: impl FnOnce() -> R) -> R {
    let need = stack_for(text_len);
    stacker::maybe_grow(need, need, f)
}

thread_local! {
    /// (current depth, limit) of the expression being bound on this thread.
    static DEPTH: Cell<(usize, usize)> = const { Cell::new((0, DEFAULT_MAX_EXPRESSION_DEPTH)) };
}

/// Runs `f` (a statement's binding) with `max` as this thread's expression depth limit.
pub(crate) fn with_depth_limit<R>(max: usize, f: impl FnOnce() -> R) -> R {
    let saved = DEPTH.with(|d| d.replace((0, max)));
    let out = f();
    DEPTH.with(|d| d.set(saved));
    out
}

/// One level of expression nesting, held while a nested expression is bound.
pub(crate) struct DepthGuard(());

impl DepthGuard {
    /// Enters one more level; `EXPRESSION_TOO_DEEP` past the limit.
    pub(crate) fn enter() -> Result<DepthGuard> {
        DEPTH.with(|d| {
            let (depth, max) = d.get();
            if depth >= max {
                return Err(Error::ExpressionTooDeep { limit: max });
            }
            d.set((depth + 1, max));
            Ok(DepthGuard(()))
        })
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| {
            let (depth, max) = d.get();
            d.set((depth.saturating_sub(1), max));
        });
    }
}

/// `QUERY_TOO_LARGE` when `sql` is longer than the limit.
pub(crate) fn check_text(sql: &str, limits: &SqlLimits) -> Result<()> {
    if sql.len() > limits.max_query_bytes {
        return Err(Error::QueryTooLarge {
            bytes: sql.len(),
            limit: limits.max_query_bytes,
        });
    }
    Ok(())
}
