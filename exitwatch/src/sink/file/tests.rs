use super::*;

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn rotation_renames_oldest_first() {
    let path = p("/var/log/ew.log");
    assert_eq!(
        renames(&path, 3),
        vec![
            (p("/var/log/ew.log.2"), p("/var/log/ew.log.3")),
            (p("/var/log/ew.log.1"), p("/var/log/ew.log.2")),
            (p("/var/log/ew.log"), p("/var/log/ew.log.1")),
        ]
    );
    assert_eq!(
        renames(&path, 1),
        vec![(path.clone(), p("/var/log/ew.log.1"))]
    );
    assert!(renames(&path, 0).is_empty());
}

#[test]
fn rotation_happens_before_a_write_would_pass_the_limit() {
    assert!(
        !needs_rotation(0, 50, 10),
        "an oversized line goes into an empty file"
    );
    assert!(!needs_rotation(5, 5, 10));
    assert!(needs_rotation(6, 5, 10));
    assert!(!needs_rotation(u64::MAX - 1, 0, u64::MAX));
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("exitwatch-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn keeps_the_newest_rotated_files_only() {
    let dir = TempDir::new("rotate");
    let path = dir.0.join("events.log");
    let rotation = Rotation {
        max_size: 10,
        keep: 2,
    };
    let mut f = RotatingFile::open(path.clone(), rotation).unwrap();
    for line in ["one 1\n", "two 2\n", "three\n", "four4\n", "five5\n"] {
        f.write(line.as_bytes()).unwrap();
    }
    f.flush().unwrap();
    assert_eq!(read(&path), "five5\n");
    assert_eq!(read(&rotated(&path, 1)), "four4\n");
    assert_eq!(read(&rotated(&path, 2)), "three\n");
    assert!(!rotated(&path, 3).exists());
    // Reopening continues the current file's size.
    let mut again = RotatingFile::open(path.clone(), rotation).unwrap();
    again.write(b"six\n").unwrap();
    again.flush().unwrap();
    assert_eq!(read(&path), "five5\nsix\n");
}

#[test]
fn keep_zero_starts_over_in_place() {
    let dir = TempDir::new("keep0");
    let path = dir.0.join("events.log");
    let rotation = Rotation {
        max_size: 8,
        keep: 0,
    };
    let mut f = RotatingFile::open(path.clone(), rotation).unwrap();
    f.write(b"aaaaaa\n").unwrap();
    f.write(b"bbbbbb\n").unwrap();
    f.flush().unwrap();
    assert_eq!(read(&path), "bbbbbb\n");
    assert!(!rotated(&path, 1).exists());
}
