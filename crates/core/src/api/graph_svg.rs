//! The config graph drawn as SVG for the web console: one box per config
//! in rows by level (parents above children), ordered within a row by
//! the mean position of their parents (fewer crossings), and a line from
//! each parent to each child. Boxes link to the config's page; every box
//! and line carries `data-` attributes naming what it is.

use super::GraphView;
use std::collections::HashMap;

const W: usize = 200;
const H: usize = 44;
const GAP_X: usize = 24;
const GAP_Y: usize = 56;
const PAD: usize = 12;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl GraphView {
    /// The graph as an SVG document (see the module's doc).
    pub fn to_svg(&self) -> String {
        // Rows by level.
        let max_level = self.nodes.iter().map(|n| n.level).max().unwrap_or(1);
        let mut rows: Vec<Vec<&super::GraphNode>> = vec![Vec::new(); max_level.max(1)];
        for n in &self.nodes {
            rows[n.level.max(1) - 1].push(n);
        }
        let mut x_of: HashMap<&str, f64> = HashMap::new();
        for row in &mut rows {
            // The mean column of a node's parents (already placed), else
            // its name, orders the row.
            let key = |n: &super::GraphNode| {
                let xs: Vec<f64> = n
                    .parents
                    .iter()
                    .filter_map(|p| x_of.get(p.as_str()).copied())
                    .collect();
                if xs.is_empty() {
                    f64::MAX
                } else {
                    xs.iter().sum::<f64>() / xs.len() as f64
                }
            };
            row.sort_by(|a, b| key(a).total_cmp(&key(b)).then_with(|| a.name.cmp(&b.name)));
            for (i, n) in row.iter().enumerate() {
                x_of.insert(n.name.as_str(), i as f64);
            }
        }
        let widest = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let width = PAD * 2 + widest * W + (widest - 1) * GAP_X;
        let height = PAD * 2 + rows.len() * H + rows.len().saturating_sub(1) * GAP_Y;
        let pos = |name: &str, level: usize| {
            let col = x_of.get(name).copied().unwrap_or(0.0) as usize;
            (
                PAD + col * (W + GAP_X),
                PAD + (level.max(1) - 1) * (H + GAP_Y),
            )
        };
        let level_of: HashMap<&str, usize> = self
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.level))
            .collect();
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
        );
        for n in &self.nodes {
            let (cx, cy) = pos(&n.name, n.level);
            for p in &n.parents {
                let Some(pl) = level_of.get(p.as_str()) else {
                    continue;
                };
                let (px, py) = pos(p, *pl);
                out.push_str(&format!(
                    "<line class=\"edge\" data-from=\"{}\" data-to=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#8c959f\"/>",
                    escape(p),
                    escape(&n.name),
                    px + W / 2,
                    py + H,
                    cx + W / 2,
                    cy
                ));
            }
        }
        for n in &self.nodes {
            let (x, y) = pos(&n.name, n.level);
            let name = escape(&n.name);
            out.push_str(&format!(
                "<a href=\"/configs/{name}\"><g class=\"node\" data-name=\"{name}\"><rect x=\"{x}\" y=\"{y}\" width=\"{W}\" height=\"{H}\" rx=\"6\" fill=\"#fff\" stroke=\"#1d2330\"/><text x=\"{}\" y=\"{}\" font-size=\"13\" font-weight=\"600\">{name}</text><text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#57606a\">{}</text></g></a>",
                x + 8,
                y + 18,
                x + 8,
                y + 34,
                escape(&short(&n.output))
            ));
        }
        out.push_str("</svg>");
        out
    }
}

/// An output as a node shows it: its end (the repository and tag say
/// more than the registry host) when it is too long for the box.
fn short(output: &str) -> String {
    const MAX: usize = 32;
    let n = output.chars().count();
    if n <= MAX {
        return output.to_string();
    }
    let tail: String = output.chars().skip(n - (MAX - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::super::{GraphNode, GraphView};

    fn node(name: &str, parents: &[&str], level: usize) -> GraphNode {
        GraphNode {
            name: name.into(),
            output: format!("r/{name}"),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            level,
        }
    }

    #[test]
    fn one_line_per_edge_and_parents_above_children() {
        let g = GraphView {
            nodes: vec![
                node("base", &[], 1),
                node("py", &["base"], 2),
                node("web", &["py", "base"], 3),
                node("<evil>", &[], 1),
            ],
        };
        let svg = g.to_svg();
        assert_eq!(svg.matches("class=\"edge\"").count(), 3);
        assert!(svg.contains("data-from=\"base\" data-to=\"py\""));
        assert!(svg.contains("data-from=\"py\" data-to=\"web\""));
        assert!(svg.contains("data-from=\"base\" data-to=\"web\""));
        assert!(
            svg.contains("data-name=\"&lt;evil&gt;\""),
            "names are escaped"
        );
        assert!(!svg.contains("<evil>"));
        // A child's box is below its parents'.
        let y_of = |name: &str| -> usize {
            let at = svg.find(&format!("data-name=\"{name}\"")).unwrap();
            let rest = &svg[at..];
            let y = rest
                .split("y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            y.parse().unwrap()
        };
        assert!(y_of("base") < y_of("py") && y_of("py") < y_of("web"));
    }
}
