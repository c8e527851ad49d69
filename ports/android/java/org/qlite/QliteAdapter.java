// A LoRA adapter opened against a base model (qlite_adapter), for QliteSession.setAdapters.
package org.qlite;

/**
 * A LoRA adapter (.qla file, PEFT folder or GGUF LoRA) opened against a base model. It keeps
 * no reference to the model; sessions keep merged copies, so it may be closed right after
 * {@link QliteSession#setAdapters}.
 */
public final class QliteAdapter implements AutoCloseable {
  static {
    Qlite.load();
  }

  private long handle;

  private QliteAdapter(long handle) {
    this.handle = handle;
  }

  /** Opens path against base; a .qla made for another base throws MISMATCH. */
  public static QliteAdapter open(QliteModel base, String path) {
    Qlite.requireNonNull(base, "base");
    Qlite.requireNonNull(path, "path");
    long model = base.acquire();
    try {
      return new QliteAdapter(nativeOpen(model, QliteModel.utf8z(path)));
    } finally {
      base.release();
    }
  }

  synchronized long liveHandle() {
    if (handle == 0) throw new QliteException(QliteException.INVALID_ARGUMENT, "adapter is closed");
    return handle;
  }

  @Override
  public synchronized void close() {
    if (handle != 0) {
      nativeFree(handle);
      handle = 0;
    }
  }

  private static native long nativeOpen(long model, byte[] pathZ);

  private static native void nativeFree(long handle);
}
