//! An append-only set of ops keyed by digest, marshalled into a `Definition`.

use std::collections::{BTreeMap, BTreeSet};

use dockopt_proto::pb;
use prost::Message;
use sha2::{Digest, Sha256};

/// Output `index` of the op with `digest`: the value an `Input` points at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Output {
    /// `sha256:<hex>` of the op's bytes.
    pub digest: String,
    /// Which output of the op.
    pub index: i64,
}

/// `sha256:<hex>` of `bytes`, the identity BuildKit gives an op.
#[must_use]
pub fn digest_of(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

struct Node {
    digest: String,
    bytes: Vec<u8>,
    inputs: Vec<String>,
}

/// Ops in the order they were added (a dependency order, since an op can only name inputs
/// that already exist), each once.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Node>,
    index: BTreeMap<String, usize>,
    metadata: BTreeMap<String, pb::OpMetadata>,
}

impl Graph {
    /// An empty graph.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `op` (once per distinct bytes) and returns its output 0. The first metadata given
    /// for an op is kept.
    pub fn add(&mut self, op: &pb::Op, metadata: Option<pb::OpMetadata>) -> Output {
        let bytes = op.encode_to_vec();
        let digest = digest_of(&bytes);
        if !self.index.contains_key(&digest) {
            self.index.insert(digest.clone(), self.nodes.len());
            self.nodes.push(Node {
                digest: digest.clone(),
                bytes,
                inputs: op.inputs.iter().map(|i| i.digest.clone()).collect(),
            });
        }
        if let Some(m) = metadata {
            self.metadata.entry(digest.clone()).or_insert(m);
        }
        Output { digest, index: 0 }
    }

    /// Number of distinct ops.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no op.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The Definition that produces `terminal`: every op it depends on, in insertion order, and
    /// the terminal op (only an input) last.
    #[must_use]
    pub fn definition(&self, terminal: &Output) -> pb::Definition {
        let mut needed: BTreeSet<&str> = BTreeSet::new();
        let mut stack = vec![terminal.digest.as_str()];
        while let Some(d) = stack.pop() {
            if needed.insert(d)
                && let Some(&i) = self.index.get(d)
            {
                stack.extend(self.nodes[i].inputs.iter().map(String::as_str));
            }
        }
        let mut def = Vec::new();
        let mut metadata = BTreeMap::new();
        for node in self
            .nodes
            .iter()
            .filter(|n| needed.contains(n.digest.as_str()))
        {
            def.push(node.bytes.clone());
            if let Some(m) = self.metadata.get(&node.digest) {
                metadata.insert(node.digest.clone(), m.clone());
            }
        }
        let term = pb::Op {
            inputs: vec![pb::Input {
                digest: terminal.digest.clone(),
                index: terminal.index,
            }],
            ..Default::default()
        };
        def.push(term.encode_to_vec());
        pb::Definition { def, metadata }
    }
}
