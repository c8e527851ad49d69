package org.qlite;

/** One turn of a conversation for {@link QliteModel#applyChatTemplate}. */
public final class ChatMessage {
  /** "system", "user", "assistant", ...: what the model's template accepts. */
  public final String role;
  public final String content;

  public ChatMessage(String role, String content) {
    Qlite.requireNonNull(role, "role");
    Qlite.requireNonNull(content, "content");
    this.role = role;
    this.content = content;
  }
}
