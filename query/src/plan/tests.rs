//! The plan's tree walks: `exprs`, `map_exprs`, `inputs`, `map_inputs`.

use super::*;
use crate::expr::{AggregateFunction, BinaryOp};
use arrow::datatypes::DataType;

fn column(i: usize) -> Expr {
    Expr::column(i, format!("c{i}"), DataType::Int32)
}

fn scan() -> LogicalPlan {
    let schema = Arc::new(Schema::new(vec![
        Field::new("c0", DataType::Int32, true),
        Field::new("c1", DataType::Int32, true),
    ]));
    LogicalPlan::Scan(Scan {
        table: "t".into(),
        table_schema: schema,
        projection: vec![0, 1],
        filters: vec![column(1)],
        rows_estimate: None,
    })
}

/// Every variant with expressions, over inputs that have their own.
fn plans() -> Vec<LogicalPlan> {
    let aggregate = AggregateExpr {
        func: AggregateFunction::Sum,
        arg: Some(column(0)),
        distinct: false,
        filter: Some(column(1).binary(BinaryOp::Gt, column(0))),
        data_type: DataType::Int64,
        fraction: None,
        extra_args: vec![],
        order_by: vec![],
    };
    vec![
        scan(),
        LogicalPlan::Filter {
            input: Box::new(scan()),
            predicate: column(0),
        },
        LogicalPlan::Projection {
            input: Box::new(scan()),
            exprs: vec![column(1), column(0)],
            names: vec!["a".into(), "b".into()],
        },
        LogicalPlan::Aggregate {
            input: Box::new(scan()),
            group_by: vec![column(1)],
            aggregates: vec![aggregate],
            names: vec!["c1".into(), "sum".into()],
        },
        LogicalPlan::Sort {
            input: Box::new(scan()),
            keys: vec![SortKey {
                expr: column(1),
                descending: true,
                nulls_first: true,
            }],
            fetch: None,
        },
        LogicalPlan::Join {
            left: Box::new(scan()),
            right: Box::new(scan()),
            kind: JoinKind::Left,
            on: vec![(column(0), column(1)), (column(1), column(0))],
            filter: Some(column(3)),
        },
        LogicalPlan::Union {
            inputs: vec![scan(), scan()],
        },
        LogicalPlan::Window {
            input: Box::new(scan()),
            exprs: vec![WindowExpr {
                func: crate::expr::WindowFunction::Lag,
                args: vec![column(0), column(1), column(0)],
                distinct: false,
                within: vec![SortKey {
                    expr: column(1),
                    descending: true,
                    nulls_first: true,
                }],
                filter: Some(column(1)),
                partition_by: vec![column(1)],
                order_by: vec![SortKey {
                    expr: column(0),
                    descending: false,
                    nulls_first: false,
                }],
                frame: crate::expr::WindowFrame::default_frame(),
                data_type: DataType::Int32,
            }],
            names: vec!["lag".into()],
        },
    ]
}

#[test]
fn map_exprs_visits_the_node_expressions_in_the_order_of_exprs() {
    for plan in plans() {
        let expected: Vec<String> = plan.exprs().iter().map(|e| e.to_string()).collect();
        let mut seen = vec![];
        let text = plan.to_string();
        let mapped = plan
            .map_exprs(|e| {
                seen.push(e.to_string());
                Ok(e)
            })
            .unwrap();
        assert_eq!(seen, expected, "{text}");
        assert_eq!(mapped.to_string(), text);
    }
}

#[test]
fn map_inputs_visits_every_input_in_order_and_keeps_the_node() {
    for plan in plans() {
        let expected = plan.inputs().len();
        let text = plan.to_string();
        let mut seen = 0;
        let mapped = plan
            .map_inputs(|input| {
                seen += 1;
                Ok(LogicalPlan::Limit {
                    input: Box::new(input),
                    skip: seen,
                    fetch: None,
                })
            })
            .unwrap();
        assert_eq!(seen, expected, "{text}");
        let skips: Vec<usize> = mapped
            .inputs()
            .iter()
            .map(|i| match i {
                LogicalPlan::Limit { skip, .. } => *skip,
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(skips, (1..=expected).collect::<Vec<_>>());
    }
}
