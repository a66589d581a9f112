//! The commands that show what dockopt will do without building: `llb`, `explain`, `bake` and
//! `dockerfile`. Each loads and plans the manifest and writes a view (`inspect.rs`,
//! `dockerfile_view.rs`) to stdout.

use std::collections::BTreeMap;
use std::io::Write;

use dockopt_planner::Options;

use crate::build_cmd::{frontend_image, syntax_line};
use crate::manifest_files::load;
use crate::{
    BakeArgs, DockerfileArgs, ExplainArgs, Failure, LlbArgs, LlbFormat, Order, build_cmd,
    dockerfile_view, inspect,
};

/// `dockopt llb`: a target's LLB Definition, raw, as JSON or as DOT.
pub(crate) fn llb(args: &LlbArgs) -> Result<(), Failure> {
    use prost::Message;
    let planned = load(&args.manifest, &args.build_args, Options::default(), true)?;
    let manifest = &planned.manifest;
    let t = match &args.target {
        Some(name) => planned
            .target(name)
            .map_err(|e| Failure::User(format!("error: {e}\n")))?,
        None => manifest
            .targets
            .iter()
            .position(|x| x.name == manifest.default_target)
            .unwrap_or(0),
    };
    let bases = manifest
        .targets
        .iter()
        .map(|x| (x.base.clone(), dockopt_llb::BaseConfig::unresolved(&x.base)))
        .collect();
    let options = dockopt_llb::BuildOptions {
        targets: Some(vec![t]),
        ..Default::default()
    };
    let built = dockopt_llb::build(manifest, &planned.plan, &bases, &options)
        .map_err(|e| Failure::User(format!("error: {e}\n")))?;
    let leaf = built.leaves[t]
        .clone()
        .ok_or_else(|| Failure::Internal("no leaf for the target".into()))?;
    let def = built.graph.definition(&leaf);
    let format = match args.format {
        LlbFormat::Auto if std::io::IsTerminal::is_terminal(&std::io::stdout()) => LlbFormat::Json,
        LlbFormat::Auto => LlbFormat::Raw,
        f => f,
    };
    let bytes = match format {
        LlbFormat::Json => {
            // Which variants each step op belongs to, from the trie.
            let mut variants = BTreeMap::new();
            for (node, out) in planned.trie.nodes.iter().zip(&built.nodes) {
                if let Some(out) = out {
                    let names: Vec<String> = node
                        .targets
                        .iter()
                        .map(|&x| manifest.targets[x].name.clone())
                        .collect();
                    variants.insert(out.digest.clone(), names);
                }
            }
            inspect::llb_json(&def, &variants).into_bytes()
        }
        LlbFormat::Dot => inspect::llb_dot(&def).into_bytes(),
        LlbFormat::Raw | LlbFormat::Auto => def.encode_to_vec(),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&bytes).and_then(|()| stdout.flush());
    Ok(())
}

/// `dockopt explain`: a variant's order, or where a step runs and why.
pub(crate) fn explain(args: &ExplainArgs) -> Result<(), Failure> {
    let planned = load(&args.manifest, &args.build_args, Options::default(), true)?;
    let text = inspect::explain(&planned, &args.what)
        .map_err(|e| Failure::User(format!("error: {e}\n")))?;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}

/// `dockopt bake`: a `docker-bake.json` with one target per variant.
pub(crate) fn bake(args: &BakeArgs) -> Result<(), Failure> {
    let planned = load(&args.manifest, &args.build_args, Options::default(), true)?;
    let context = args
        .manifest
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| ".".into());
    let dockerfile = args
        .manifest
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(&args.manifest).unwrap_or_default();
    let mut build_args: BTreeMap<String, String> = args.build_args.iter().cloned().collect();
    if args.frontend.is_some() || syntax_line(&text).is_none() {
        build_args.insert(
            "BUILDKIT_SYNTAX".into(),
            frontend_image(args.frontend.as_deref(), &text),
        );
    }
    let prefix = args
        .tag_prefix
        .clone()
        .unwrap_or_else(|| build_cmd::default_prefix(&args.manifest));
    let out = inspect::bake(&planned, &context, &dockerfile, &prefix, &build_args);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}

/// `dockopt dockerfile`: one target as a plain Dockerfile.
pub(crate) fn dockerfile(args: &DockerfileArgs) -> Result<(), Failure> {
    let planned = load(&args.manifest, &args.build_args, Options::default(), true)?;
    let manifest = &planned.manifest;
    let t = planned
        .target(&args.target)
        .map_err(|e| Failure::User(format!("error: {e}\n")))?;
    let order_of = |t: usize| -> Vec<usize> {
        match args.order {
            Order::Listed => manifest.targets[t]
                .steps
                .iter()
                .chain(&manifest.targets[t].finally)
                .copied()
                .collect(),
            Order::Planned => planned.plan.orders[t].clone(),
        }
    };
    let text = dockerfile_view::dockerfile(manifest, t, &order_of);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}
