//! Reads a Git checkout for `lint`: the YAML files under a root, as text.
//! Nothing is ever written; `.git` and other hidden directories are skipped,
//! and directory symlinks are not followed (a loop cannot hang the walk).

use std::path::Path;

use crate::diagnose::repo::Files;

/// A file larger than this is not a manifest anyone wrote by hand.
const MAX_FILE: u64 = 16 << 20;

/// The YAML files under `root`, keyed by their `/`-separated path relative to it.
pub fn read(root: &Path) -> Result<Files, String> {
    let meta = std::fs::metadata(root).map_err(|e| {
        format!(
            "cannot read {}: {e}. Pass the directory of a Git checkout",
            root.display()
        )
    })?;
    if !meta.is_dir() {
        return Err(format!(
            "{} is not a directory: pass the directory of a Git checkout",
            root.display()
        ));
    }
    let mut files = Files::new();
    walk(root, root, &mut files)?;
    Ok(files)
}

fn is_manifest(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml") || name == "Kustomization"
}

fn walk(root: &Path, dir: &Path, files: &mut Files) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if kind.is_dir() {
            if !name.starts_with('.') {
                walk(root, &path, files)?;
            }
            continue;
        }
        if !is_manifest(&name) {
            continue;
        }
        // A symlink to a file is read; one to a directory is not followed.
        let meta =
            std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            continue;
        }
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let rel = path
            .strip_prefix(root)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .to_string_lossy()
            .replace('\\', "/");
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{rel} is not UTF-8 text, which YAML must be"))?;
        files.insert(rel, text);
    }
    Ok(())
}
