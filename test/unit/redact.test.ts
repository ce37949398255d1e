import t from 'tap';
import { redactUrl, redactUrlsIn } from '../../agent/redact.js';
import type { RequestLogEntry } from '../../agent/store/index.js';
import {
  MAX_REQUEST_BYTES,
  type MqttLink,
  type RequestHandlers,
  RequestRouter,
} from '../../agent/sync/index.js';
import { quietLog } from '../helpers/fixtures.js';

t.test("URLs inside someone else's text are masked like URLs on their own", async (t) => {
  // what ffmpeg prints when an RTSP camera is not there: its input URL, secrets and all
  const line = 'rtsp://admin:hunter2@10.0.0.5:554/cam?pwd=hunter3&ch=1: Connection refused';
  t.equal(redactUrlsIn(line), 'rtsp://***:***@10.0.0.5:554/cam?pwd=***&ch=1: Connection refused');
  t.equal(
    redactUrlsIn('[tcp @ 0x5] Connection to tcp://10.0.0.5:554?timeout=0 failed; see http://u:p@x/y?token=t'),
    '[tcp @ 0x5] Connection to tcp://10.0.0.5:554?timeout=0 failed; see http://***:***@x/y?token=***',
  );
  t.equal(redactUrlsIn('no url here: user:pass@host'), 'no url here: user:pass@host');
  t.equal(redactUrl('mqtt://agent:pw@broker:1883'), 'mqtt://***:***@broker:1883');
});

t.test(
  'an MQTT request over the size limit is refused unread, answered and logged without its body',
  async (t) => {
    let deliver: ((topic: string, payload: Buffer, meta: { retain: boolean }) => void) | undefined;
    const published: [string, string][] = [];
    const link = {
      topicRoot: 'r',
      onMessage: (fn: typeof deliver) => {
        deliver = fn;
      },
      publish: async (topic: string, payload: string) => {
        published.push([topic, payload]);
      },
    } as unknown as MqttLink;
    const ran: string[] = [];
    const handlers = { trigger: async () => ran.push('trigger') } as unknown as RequestHandlers;
    const journal: RequestLogEntry[] = [];
    new RequestRouter(handlers, quietLog, { journal: { logRequest: (e) => journal.push(e) } }).attach(link);
    const huge = Buffer.from(JSON.stringify({ camera: 'cam-1', pad: 'x'.repeat(MAX_REQUEST_BYTES) }));
    deliver?.('r/request/trigger', huge, { retain: false });
    await new Promise((r) => setImmediate(r));
    t.same(ran, [], 'not executed');
    t.equal(published.length, 1);
    const answer = JSON.parse(published[0]?.[1] ?? '{}');
    t.match(answer, {
      status: 'error',
      code: 'EVA_ERR_BODY_TOO_LARGE',
      error: `a request of ${huge.length} bytes is over the ${MAX_REQUEST_BYTES}-byte limit; nothing was read`,
    });
    t.match(journal, [{ name: 'trigger', via: 'mqtt', body: null, status: 'error' }]);
  },
);
