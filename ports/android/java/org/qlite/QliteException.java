package org.qlite;

/** A failed qlite call: the C API's status code (qlite_status) and its message. */
public class QliteException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  // The values of qlite_status in qlite.h.
  public static final int INVALID_ARGUMENT = 1;
  public static final int IO = 2;
  public static final int FORMAT = 3;
  public static final int UNSUPPORTED = 4;
  public static final int OUT_OF_MEMORY = 5;
  public static final int CONTEXT = 6;
  public static final int MISMATCH = 7;
  public static final int CANCELLED = 8;
  public static final int INTERNAL = 9;

  private final int status;

  public QliteException(int status, String message) {
    super(message);
    this.status = status;
  }

  /** The qlite_status code, e.g. {@link #IO} for a missing file. */
  public int status() {
    return status;
  }
}
