import { MAX_REQUEST_FIELDS } from '../../src/config/request-limits';
import { headerBudget, parserOptions, type RequestLimits } from '../../src/worker/parser-options';

const DEFAULTS: RequestLimits = {
  limitRequestLine: 4094,
  limitRequestFields: 100,
  limitRequestFieldSize: 8190,
  limitRequestBody: 0,
  headerTimeout: 10_000,
};

describe('the limits as Node parser options', () => {
  it('sizes the header budget as Gunicorn sizes its header buffer, plus the request line', () => {
    // fields × (field size + CRLF) + the final CRLF CRLF, as gunicorn/http/message.py has it.
    expect(headerBudget(DEFAULTS)).toBe(4094 + 100 * (8190 + 2) + 4);
    // 0 fields is Gunicorn's most; 0 field size budgets 8190 a field, as Gunicorn's buffer does.
    expect(headerBudget({ ...DEFAULTS, limitRequestLine: 0, limitRequestFields: 0, limitRequestFieldSize: 0 })).toBe(
      MAX_REQUEST_FIELDS * (8190 + 2) + 4,
    );
  });

  it('looks for slow heads often enough for the header timeout, and keeps the parser strict', () => {
    expect(parserOptions(DEFAULTS)).toEqual({
      maxHeaderSize: headerBudget(DEFAULTS),
      headersTimeout: 10_000,
      requestTimeout: 300_000,
      connectionsCheckingInterval: 1000,
      insecureHTTPParser: false,
      requireHostHeader: true,
    });
    expect(parserOptions({ ...DEFAULTS, headerTimeout: 1000 }).connectionsCheckingInterval).toBe(100);
    expect(parserOptions({ ...DEFAULTS, headerTimeout: 200 }).connectionsCheckingInterval).toBe(50);
    // No header timeout: Node's request timeout is all there is to look for.
    expect(parserOptions({ ...DEFAULTS, headerTimeout: 0 })).toMatchObject({ headersTimeout: 0, connectionsCheckingInterval: 1000 });
    // Node refuses a header timeout longer than the request timeout: that one grows with it.
    expect(parserOptions({ ...DEFAULTS, headerTimeout: 600_000 }).requestTimeout).toBe(600_000);
  });
});
