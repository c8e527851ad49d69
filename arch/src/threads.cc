// Placeholder: replaced by the thread pool implementation.
