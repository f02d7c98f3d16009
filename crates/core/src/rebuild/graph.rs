//! The parent→child graph of image configs: built from FROM lines and
//! `depends_on`, refused when cyclic (the cycle named).

use crate::image_ref::ImageRef;
use std::collections::{BTreeSet, HashMap};

/// What the graph needs to know about one config.
#[derive(Debug, Clone)]
pub struct GraphInput {
    pub name: String,
    /// The image the config produces, with its tag.
    pub output: ImageRef,
    /// The images its Dockerfile's FROM lines name (all stages), as written
    /// after ARG substitution.
    pub base_images: Vec<String>,
    /// Extra parents: config names or image references.
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error(
        "the configs form a cycle: {}; a build must not depend on its own output, directly or through other configs",
        .0.join(" → ")
    )]
    Cycle(Vec<String>),
    #[error(
        "config {config}: depends_on entry {entry:?} names no config and no config's output; name a config or an image a config produces"
    )]
    UnknownDependency { config: String, entry: String },
    #[error(
        "config {config}: the base image {image} could come from several configs ({}); give the FROM line the tag one of them produces",
        .candidates.join(", ")
    )]
    Ambiguous {
        config: String,
        image: String,
        candidates: Vec<String>,
    },
    #[error("config {0} is defined twice")]
    Duplicate(String),
    #[error(
        "config {config}: the repository {repository} belongs to config {owner}; a repository has one owner, so give {config} an output repository of its own"
    )]
    SharedOutput {
        config: String,
        owner: String,
        repository: String,
    },
}

/// A repository belongs to at most one config: the first of `inputs`
/// whose output repository (registry and path, whatever the tag) another
/// config has too, checked for the configs `changed` names (configs stored
/// before this rule are left alone until they change). The owner is the
/// config not being changed, else the first.
pub fn check_ownership(
    inputs: &[GraphInput],
    changed: &dyn Fn(&str) -> bool,
) -> Result<(), GraphError> {
    let mut owners: HashMap<String, Vec<&GraphInput>> = HashMap::new();
    for c in inputs {
        owners.entry(c.output.name()).or_default().push(c);
    }
    let mut shared: Vec<(&String, &Vec<&GraphInput>)> =
        owners.iter().filter(|(_, cs)| cs.len() > 1).collect();
    shared.sort_by(|a, b| a.0.cmp(b.0));
    for (repository, configs) in shared {
        let Some(newcomer) = configs.iter().find(|c| changed(&c.name)) else {
            continue;
        };
        let owner = configs
            .iter()
            .find(|c| !changed(&c.name))
            .or_else(|| configs.iter().find(|c| c.name != newcomer.name))
            .map(|c| c.name.clone())
            .unwrap_or_default();
        return Err(GraphError::SharedOutput {
            config: newcomer.name.clone(),
            owner,
            repository: repository.clone(),
        });
    }
    Ok(())
}

/// Configs and their parent→child edges, known to be acyclic.
#[derive(Debug, Clone, Default)]
pub struct ConfigGraph {
    names: Vec<String>,
    index: HashMap<String, usize>,
    pub(super) parents: Vec<Vec<usize>>,
    pub(super) children: Vec<Vec<usize>>,
    /// Every config, parents before children.
    pub(super) topo: Vec<usize>,
}

impl ConfigGraph {
    /// Resolve every config's FROM images and `depends_on` entries to the
    /// configs producing them and check that the result has no cycle.
    /// Base images no config produces (`debian:12`, `scratch`) are not
    /// parents; a base image pinned by digest never changes, so it is not a
    /// parent either.
    pub fn build(inputs: &[GraphInput]) -> Result<ConfigGraph, GraphError> {
        let mut index = HashMap::new();
        for (i, c) in inputs.iter().enumerate() {
            if index.insert(c.name.clone(), i).is_some() {
                return Err(GraphError::Duplicate(c.name.clone()));
            }
        }
        // Producers by repository (registry + path).
        let mut by_repo: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for (i, c) in inputs.iter().enumerate() {
            by_repo
                .entry((c.output.registry.as_str(), c.output.repository.as_str()))
                .or_default()
                .push(i);
        }
        let tag_of = |r: &ImageRef| r.tag.clone().unwrap_or_else(|| "latest".into());
        // Among the configs producing an image's repository: the one
        // producing its tag, else the only one; none when there is none.
        let pick = |config: &str,
                    image: &str,
                    producers: &[usize],
                    tag: &str|
         -> Result<Option<usize>, GraphError> {
            let exact: Vec<usize> = producers
                .iter()
                .copied()
                .filter(|&i| tag_of(&inputs[i].output) == tag)
                .collect();
            match (exact.as_slice(), producers) {
                ([one], _) | ([], [one]) => Ok(Some(*one)),
                ([], []) => Ok(None),
                _ => Err(GraphError::Ambiguous {
                    config: config.to_string(),
                    image: image.to_string(),
                    candidates: producers.iter().map(|&i| inputs[i].name.clone()).collect(),
                }),
            }
        };
        let resolve = |config: &str, image: &ImageRef| -> Result<Option<usize>, GraphError> {
            let producers = by_repo
                .get(&(image.registry.as_str(), image.repository.as_str()))
                .map_or(&[][..], Vec::as_slice);
            pick(config, &image.to_string(), producers, &tag_of(image))
        };
        let mut parents = vec![Vec::new(); inputs.len()];
        for (i, c) in inputs.iter().enumerate() {
            let mut set = BTreeSet::new();
            for base in &c.base_images {
                let Ok(image) = ImageRef::parse(base) else {
                    continue;
                };
                if image.digest.is_some() {
                    continue;
                }
                if let Some(p) = resolve(&c.name, &image)? {
                    set.insert(p);
                }
            }
            for entry in &c.depends_on {
                let entry = entry.trim();
                if let Some(&p) = index.get(entry) {
                    set.insert(p);
                    continue;
                }
                let found = match ImageRef::parse(entry) {
                    Ok(image) => resolve(&c.name, &image)?,
                    // `ns/job:tag` without a registry (CentOS index style):
                    // match the repository and tag in any registry.
                    Err(_) => {
                        let (repo, tag) = match entry.rsplit_once(':') {
                            Some((r, t)) if !t.contains('/') => (r, t),
                            _ => (entry, "latest"),
                        };
                        let all: Vec<usize> = inputs
                            .iter()
                            .enumerate()
                            .filter(|(_, o)| o.output.repository == repo)
                            .map(|(i, _)| i)
                            .collect();
                        pick(&c.name, entry, &all, tag)?
                    }
                };
                match found {
                    Some(p) => {
                        set.insert(p);
                    }
                    None => {
                        return Err(GraphError::UnknownDependency {
                            config: c.name.clone(),
                            entry: entry.to_string(),
                        });
                    }
                }
            }
            parents[i] = set.into_iter().collect();
        }
        let names = inputs.iter().map(|c| c.name.clone()).collect();
        ConfigGraph::from_parents(names, parents)
    }

    /// A graph from names and each node's parents (indices); refuses cycles.
    pub fn from_parents(
        names: Vec<String>,
        parents: Vec<Vec<usize>>,
    ) -> Result<ConfigGraph, GraphError> {
        let n = names.len();
        let mut children = vec![Vec::new(); n];
        for (c, ps) in parents.iter().enumerate() {
            for &p in ps {
                children[p].push(c);
            }
        }
        // Kahn's algorithm; what is left over lies on or behind a cycle.
        let mut indegree: Vec<usize> = parents.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).rev().collect();
        let mut topo = Vec::with_capacity(n);
        while let Some(i) = ready.pop() {
            topo.push(i);
            for &c in children[i].iter().rev() {
                indegree[c] -= 1;
                if indegree[c] == 0 {
                    ready.push(c);
                }
            }
        }
        if topo.len() < n {
            return Err(GraphError::Cycle(find_cycle(&names, &parents, &indegree)));
        }
        let index = names
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        Ok(ConfigGraph {
            names,
            index,
            parents,
            children,
            topo,
        })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn parents(&self, i: usize) -> &[usize] {
        &self.parents[i]
    }

    pub fn children(&self, i: usize) -> &[usize] {
        &self.children[i]
    }

    /// Every config, parents before children.
    pub fn topological(&self) -> &[usize] {
        &self.topo
    }

    /// The roots and everything below them, parents before children.
    pub fn descendants(&self, roots: &[usize]) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<usize> = roots.to_vec();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(&self.children[i]);
            }
        }
        self.topo.iter().copied().filter(|&i| seen[i]).collect()
    }

    /// A config's ancestors, the config and its descendants, parents first.
    pub fn lineage(&self, i: usize) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            if !std::mem::replace(&mut seen[j], true) {
                stack.extend(&self.parents[j]);
            }
        }
        for d in self.descendants(&[i]) {
            seen[d] = true;
        }
        self.topo.iter().copied().filter(|&j| seen[j]).collect()
    }

    /// Each config's level: 1 without parents, else one more than its
    /// deepest parent.
    pub fn levels(&self) -> Vec<usize> {
        let mut level = vec![0usize; self.len()];
        for &i in &self.topo {
            level[i] = 1 + self.parents[i].iter().map(|&p| level[p]).max().unwrap_or(0);
        }
        level
    }

    /// The length of the longest chain (in nodes).
    pub fn depth(&self) -> usize {
        self.levels().into_iter().max().unwrap_or(0)
    }
}

/// A cycle among the nodes Kahn's algorithm could not order, as names in
/// parent→child order, first name repeated at the end.
fn find_cycle(names: &[String], parents: &[Vec<usize>], indegree: &[usize]) -> Vec<String> {
    // Every left-over node has a left-over parent, so walking parents from
    // one must revisit a node.
    let Some(start) = (0..names.len()).find(|&i| indegree[i] > 0) else {
        return Vec::new();
    };
    let mut position = HashMap::new();
    let mut path = Vec::new();
    let mut at = start;
    loop {
        if let Some(&p) = position.get(&at) {
            // The walk went child → parent; show parent → child, starting
            // from the config defined first.
            let mut cycle: Vec<usize> = path[p..].iter().rev().copied().collect();
            if let Some(first) = (0..cycle.len()).min_by_key(|&k| cycle[k]) {
                cycle.rotate_left(first);
            }
            cycle.push(cycle[0]);
            return cycle.into_iter().map(|i| names[i].clone()).collect();
        }
        position.insert(at, path.len());
        path.push(at);
        match parents[at].iter().find(|&&p| indegree[p] > 0) {
            Some(&p) => at = p,
            None => return vec![names[at].clone()],
        }
    }
}
