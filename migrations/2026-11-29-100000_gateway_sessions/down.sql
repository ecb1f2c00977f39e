DROP TABLE archived_thread_marks;
DROP TABLE gateway_sessions;
