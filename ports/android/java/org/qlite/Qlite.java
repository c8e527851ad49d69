package org.qlite;

/**
 * Loads libqlite_jni and answers library-wide questions. The library is loaded on first use
 * of any qlite class; set the system property {@code qlite.jni.library} to an absolute path
 * to load a specific file instead of searching java.library.path.
 */
public final class Qlite {
  private Qlite() {}

  private static boolean loaded;

  static synchronized void load() {
    if (loaded) return;
    String path = System.getProperty("qlite.jni.library");
    if (path != null && !path.isEmpty()) {
      System.load(path);
    } else {
      System.loadLibrary("qlite_jni");
    }
    loaded = true;
  }

  static {
    load();
  }

  /** Where a model runs (qlite_device): this library's CPU kernels, or one NVIDIA GPU. */
  public static final int DEVICE_CPU = 0;
  public static final int DEVICE_CUDA = 1;

  /**
   * Usable devices of one kind: 1 for DEVICE_CPU; for DEVICE_CUDA the number of GPUs (0 in a
   * build without the CUDA backend, such as every Android build, or without a GPU).
   */
  public static int deviceCount(int device) {
    return nativeDeviceCount(device);
  }

  /** QLITE_API_VERSION of the C library: major in the high 16 bits, minor in the low 16. */
  public static int apiVersion() {
    return nativeApiVersion();
  }

  public static String version() {
    return nativeVersion();
  }

  static void requireNonNull(Object value, String what) {
    if (value == null) {
      throw new QliteException(QliteException.INVALID_ARGUMENT, what + " is null");
    }
  }

  private static native int nativeApiVersion();

  private static native int nativeDeviceCount(int device);

  private static native String nativeVersion();
}
