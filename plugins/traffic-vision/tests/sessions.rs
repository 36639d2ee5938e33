//! Elements of one process that load the same model with the same settings share it: one set of
//! sessions, as many as calls run at once, up to one per core.

use std::sync::Arc;

use traffic_vision::runtime::{models_in_use, session, weight, ModelUse};

#[test]
fn one_model_per_file_and_settings_while_held() {
    let model = weight("yolov8n.onnx");
    let first = session(&model, 1, false).expect("load yolov8n.onnx (make setup fetches it)");
    let again = session(&model, 1, false).expect("second load");
    assert!(Arc::ptr_eq(&first, &again), "the same model and settings must be shared");

    // The same file by another path is the same model.
    let dotted = model.parent().unwrap().join(".").join("yolov8n.onnx");
    assert!(Arc::ptr_eq(&first, &session(&dotted, 1, false).unwrap()));

    let other_threads = session(&model, 2, false).unwrap();
    assert!(!Arc::ptr_eq(&first, &other_threads), "other thread settings need their own sessions");
    let canonical = model.canonicalize().unwrap();
    let used = |sessions, users| ModelUse { model: canonical.clone(), sessions, users };
    assert_eq!(models_in_use(), [used(1, 1), used(1, 2)]);

    // Calls in turn reuse one session; overlapping calls get one each, up to one per core.
    drop(first.lock().unwrap());
    drop(first.lock().unwrap());
    assert_eq!(first.sessions(), 1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 {
        let (_a, _b) = (first.lock().unwrap(), first.lock().unwrap());
        assert_eq!(first.sessions(), 2);
    }
    // Beyond the limit a call waits for a free session rather than making one.
    let guards: Vec<_> = (0..cores).map(|_| first.lock().unwrap()).collect();
    let waiting = {
        let model = first.clone();
        std::thread::spawn(move || model.lock().map(|_| ()).is_ok())
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!waiting.is_finished(), "a call beyond one session per core must wait");
    drop(guards);
    assert!(waiting.join().unwrap());
    assert_eq!(first.sessions(), cores);

    // Once nobody holds it, it is released, not kept for ever.
    let released = Arc::downgrade(&first);
    drop((first, again));
    assert!(released.upgrade().is_none());
    assert_eq!(models_in_use(), [used(1, 1)]);
}
