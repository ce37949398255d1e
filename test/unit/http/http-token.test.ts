import t from 'tap';
import { refusalOf } from '../../../agent/http/http-server.js';

const TOKEN = 'tok-4f9c2a';

// refusalOf compares SHA-256 digests of the token and the guess with timingSafeEqual: no early exit on the
// length or the first wrong byte. Its timing is not asserted here (no timed assertions in unit tests); what
// is asserted is that only the configured token passes, whatever a guess's length.
t.test('the bearer token: only the configured one, whatever the length of a guess', async (t) => {
  t.equal(refusalOf(`Bearer ${TOKEN}`, TOKEN), undefined);
  for (const guess of [
    '',
    't',
    TOKEN.slice(0, -1),
    `${TOKEN}x`,
    TOKEN.replace('4', '5'),
    'x'.repeat(10_000),
  ]) {
    t.equal(
      refusalOf(`Bearer ${guess}`, TOKEN)?.code,
      'EVA_ERR_UNAUTHORISED',
      `refused: ${guess.slice(0, 12)}`,
    );
  }
  t.equal(refusalOf(TOKEN, TOKEN)?.code, 'EVA_ERR_UNAUTHORISED', 'the scheme is required');
  t.equal(refusalOf(`Bearer ${TOKEN}`, undefined)?.code, 'EVA_ERR_TOKEN_NOT_CONFIGURED');
});
