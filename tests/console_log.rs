//! The console logs to a rolling file, never to the terminal. A process of
//! its own, since the log becomes the process's global subscriber.

#[test]
fn console_logs_go_to_a_daily_file_in_the_state_folder() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").join("walletops");
    assert!(matches!(
        walletops::tui::log::to_file_in(state.clone(), "walletops=[bad"),
        Err(walletops::tui::log::LogError::Filter(_))
    ));

    let log = walletops::tui::log::to_file_in(state.clone(), "info").unwrap();
    assert_eq!(log.pattern, state.join("console.*.log"));
    tracing::info!("refused: read-only console: cannot clear failed jobs");
    drop(log); // flushes the writer

    let files: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("console.") && name.ends_with(".log"),
        "{name}"
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("cannot clear failed jobs"), "{text}");
    assert!(!text.contains('\x1b'), "no colour codes in the file");

    // A second subscriber cannot be installed: said, not ignored.
    assert!(walletops::tui::log::to_file_in(state, "info").is_err());
}
