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

#[test]
fn follows_the_path_after_someone_renames_or_removes_the_file() {
    let dir = TempDir::new("follow");
    let path = dir.0.join("events.log");
    let rotation = Rotation {
        max_size: 1 << 20,
        keep: 1,
    };
    let mut f = RotatingFile::open(path.clone(), rotation).unwrap();
    f.write(b"one\n").unwrap();
    f.flush().unwrap();
    // logrotate without copytruncate: rename, then we must notice.
    fs::rename(&path, dir.0.join("events.log.old")).unwrap();
    assert!(
        !f.follow_path(Instant::now()).unwrap(),
        "checked at most every second"
    );
    assert!(f.follow_path(Instant::now() + CHECK_EVERY).unwrap());
    f.write(b"two\n").unwrap();
    f.flush().unwrap();
    assert_eq!(read(&dir.0.join("events.log.old")), "one\n");
    assert_eq!(read(&path), "two\n");
    fs::remove_file(&path).unwrap();
    assert!(f.follow_path(Instant::now() + 2 * CHECK_EVERY).unwrap());
    f.write(b"three\n").unwrap();
    f.flush().unwrap();
    assert_eq!(read(&path), "three\n");
    assert!(!f.follow_path(Instant::now() + 3 * CHECK_EVERY).unwrap());
}

#[test]
fn a_symbolic_link_at_the_path_is_refused_not_followed() {
    let dir = TempDir::new("symlink");
    let path = dir.0.join("events.log");
    let target = dir.0.join("precious");
    fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let e = RotatingFile::open(
        path.clone(),
        Rotation {
            max_size: 100,
            keep: 1,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    // Placed after the start: the reopen refuses it.
    fs::remove_file(&path).unwrap();
    let mut f = RotatingFile::open(
        path.clone(),
        Rotation {
            max_size: 100,
            keep: 1,
        },
    )
    .unwrap();
    fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let e = f.follow_path(Instant::now() + CHECK_EVERY).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(read(&target), "keep me\n");
}
