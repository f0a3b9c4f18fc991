/** Gunicorn's ceilings (gunicorn/http/message.py): the longest request line a limit may allow, and
 *  the most header fields (what `--limit-request-fields 0` means). Apart from the settings registry,
 *  so that a worker enforcing them does not load the registry. */
export const MAX_REQUEST_LINE = 8190;
export const MAX_REQUEST_FIELDS = 32768;
