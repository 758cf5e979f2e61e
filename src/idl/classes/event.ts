// event: change notification; no rows, only messages.
import type { ClassDef } from '../meta.js';
import { msg, p, t } from './_helpers.js';

const classes = p('classes', t.set(t.string), '"*", a class name (any case) or "class/ref".');

export const eventClass: ClassDef = {
  name: 'event',
  doc: 'Change notification: the event.from stream and the legacy register/next interface.',
  persistent: false,
  // A record type only: events are made by the stream, never stored (its fields come from the datamodel).
  recordOnly: true,
  fields: [],
  messages: [
    msg('register', [classes], null, [], 'read-only', 'Legacy: subscribe the session to classes.'),
    msg('unregister', [classes], null, [], 'read-only', 'Legacy: unsubscribe the session from classes.'),
    msg('next', [], t.any, ['SESSION_NOT_REGISTERED', 'EVENTS_LOST'], 'read-only',
      'Legacy: block until events for the subscribed classes exist and return them.', { async: false }),
    msg('from', [classes, p('token', t.string, '"" or the token of the previous call.'), p('timeout', t.float, 'Seconds to wait.')],
      t.any, ['EVENT_SUBSCRIPTION_PARSE_FAILURE', 'EVENT_FROM_TOKEN_PARSE_FAILURE'], 'read-only',
      'Return the changes since token as {events, valid_ref_counts, token}, waiting up to timeout.', { async: false }),
    msg('get_current_id', [], t.int, [], 'read-only', 'Legacy: the id the next event will get.', { async: false }),
    msg('inject', [p('class', t.string), p('ref', t.string)], t.string, ['HANDLE_INVALID'], 'read-only',
      'Force a mod event for an object and return its token.', { async: false }),
  ],
};
