//! Docker image references in the fully qualified form BuildKit's sources require.

/// `debian:bookworm` → `docker.io/library/debian:bookworm`; `me/app` → `docker.io/me/app:latest`;
/// a ref with a registry host (a first part with `.` or `:`, or `localhost`) keeps it.
///
/// # Errors
/// A message saying what is wrong when `image` is not a valid reference.
pub fn normalize(image: &str) -> Result<String, String> {
    if image.is_empty() {
        return Err("an image reference cannot be empty".into());
    }
    if let Some(c) = image.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("an image reference cannot contain {c:?}"));
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest
        && !(d.starts_with("sha256:")
            && d.len() == 71
            && d[7..].chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(format!("digest `{d}` is not `sha256:` and 64 hex digits"));
    }
    // The tag is after the last `:` that follows the last `/`.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if tag.is_some_and(str::is_empty) || path.split('/').any(str::is_empty) {
        return Err(format!(
            "`{image}` is not of the form [HOST/]NAME[:TAG][@DIGEST]"
        ));
    }
    // Docker's rule: the first part names a registry when it has `.` or `:`, is `localhost`,
    // or has an upper-case letter; `index.docker.io` is `docker.io`, and a one-part name on
    // Docker Hub is in `library/`.
    let first = path.split('/').next().unwrap_or_default();
    let has_host = path.contains('/')
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    let repo = if has_host {
        let (host, rest) = path.split_once('/').unwrap_or((path, ""));
        let host = if host == "index.docker.io" {
            "docker.io"
        } else {
            host
        };
        if host == "docker.io" && !rest.contains('/') {
            format!("docker.io/library/{rest}")
        } else {
            format!("{host}/{rest}")
        }
    } else if path.contains('/') {
        format!("docker.io/{path}")
    } else {
        format!("docker.io/library/{path}")
    };
    let repo_path = repo.split_once('/').map_or("", |(_, p)| p);
    if repo_path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("repository name `{repo_path}` must be lowercase"));
    }
    let mut out = repo;
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn short_names_get_registry_library_and_tag() {
        assert_eq!(
            normalize("debian:bookworm").as_deref(),
            Ok("docker.io/library/debian:bookworm")
        );
        assert_eq!(
            normalize("busybox").as_deref(),
            Ok("docker.io/library/busybox:latest")
        );
        assert_eq!(
            normalize("me/app").as_deref(),
            Ok("docker.io/me/app:latest")
        );
        assert_eq!(
            normalize("localhost:5000/app:1").as_deref(),
            Ok("localhost:5000/app:1")
        );
        assert_eq!(normalize("ghcr.io/o/r:v1").as_deref(), Ok("ghcr.io/o/r:v1"));
        // The same image however Docker lets you spell it.
        for same in [
            "debian",
            "debian:latest",
            "library/debian",
            "docker.io/debian",
            "docker.io/library/debian:latest",
            "index.docker.io/debian",
            "index.docker.io/library/debian",
        ] {
            assert_eq!(
                normalize(same).as_deref(),
                Ok("docker.io/library/debian:latest"),
                "{same}"
            );
        }
        assert_eq!(
            normalize("docker.io/me/app").as_deref(),
            Ok("docker.io/me/app:latest")
        );
        assert_eq!(
            normalize("Registry/app").as_deref(),
            Ok("Registry/app:latest"),
            "an upper-case first part is a registry host"
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            normalize(&format!("alpine@{digest}")),
            Ok(format!("docker.io/library/alpine@{digest}"))
        );
    }

    #[test]
    fn bad_refs_are_refused() {
        for bad in ["", "a b", "Debian", "x:", "x@sha256:12", "/x", "a//b"] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }
}
