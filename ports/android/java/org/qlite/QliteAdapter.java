package org.qlite;

/**
 * A LoRA adapter (a .qla file, a PEFT folder or a llama.cpp GGUF LoRA) opened against a base
 * model; {@link QliteSession#setAdapters} merges it into a session's weights. It keeps no
 * reference to the base and may be closed as soon as the sessions that use it have it merged.
 */
public final class QliteAdapter implements AutoCloseable {
  static {
    Qlite.load();
  }

  private long handle;

  private QliteAdapter(long handle) {
    this.handle = handle;
  }

  /**
   * Reads the adapter at path for base (a .qla made for another base throws MISMATCH).
   */
  public static QliteAdapter open(QliteModel base, String path) {
    Qlite.requireNonNull(base, "base");
    Qlite.requireNonNull(path, "path");
    return new QliteAdapter(base.openAdapter(QliteModel.utf8z(path)));
  }

  @Override
  public synchronized void close() {
    if (handle != 0) {
      nativeFree(handle);
      handle = 0;
    }
  }

  synchronized long liveHandle() {
    if (handle == 0) {
      throw new QliteException(QliteException.INVALID_ARGUMENT, "adapter is closed");
    }
    return handle;
  }

  static long[] handles(QliteAdapter[] adapters) {
    Qlite.requireNonNull(adapters, "adapters");
    long[] h = new long[adapters.length];
    for (int i = 0; i < adapters.length; ++i) {
      Qlite.requireNonNull(adapters[i], "adapters[" + i + "]");
      h[i] = adapters[i].liveHandle();
    }
    return h;
  }

  private static native void nativeFree(long handle);
}
