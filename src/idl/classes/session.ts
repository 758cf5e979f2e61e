// session: an authenticated client connection (not persisted).
import type { ClassDef } from '../meta.js';
import { field, msg, otherConfig, p, t, uuidField, NULL_REF } from './_helpers.js';

export const sessionClass: ClassDef = {
  name: 'session',
  doc: 'A login session; its reference is the secret passed with every call.',
  persistent: false,
  // Its ref is the caller's credential: never listed, never in the event stream (xapi declares
  // it gen_events:false), never handed to another caller.
  unlisted: true,
  events: false,
  credential: true,
  // A session ref in a record would hand one session's credential to whoever reads another.
  omittedFields: ['parent'],
  writeRole: 'pool-admin',
  fields: [
    uuidField(),
    field('this_host', t.ref('host'), 'DynamicRO', 'Host the session was opened on.', { default: NULL_REF }),
    field('this_user', t.string, 'DynamicRO', 'User the session belongs to.', { default: '' }),
    field('last_active', t.datetime, 'DynamicRO', 'Time of the last call made with the session.', { default: '19700101T00:00:00Z' }),
    field('pool', t.bool, 'DynamicRO', 'True for an intra-pool (host to host) session.', { default: false }),
    otherConfig(),
    field('is_local_superuser', t.bool, 'DynamicRO', 'True when logged in as the local root account.', { default: false }),
    field('auth_user_name', t.string, 'DynamicRO', 'Name the user logged in with.', { default: '' }),
    field('originator', t.string, 'DynamicRO', 'Client-chosen name of the program that logged in.', { default: '' }),
    field('rbac_permissions', t.set(t.string), 'StaticRO', 'Permissions granted to the session.', { default: [] }),
  ],
  messages: [
    msg('login_with_password', [
      p('uname', t.string), p('pwd', t.string),
      p('version', t.string, 'Client API version.', '1.1'), p('originator', t.string, 'Client name.', ''),
    ], t.ref('session'), ['SESSION_AUTHENTICATION_FAILED', 'SESSION_AUTHORIZATION_FAILED', 'HOST_IS_SLAVE'], 'read-only',
    'Log in with a user name and password; returns the session reference.', { async: false, sessionless: true }),
    msg('slave_login', [p('host', t.ref('host')), p('psecret', t.string)], t.ref('session'),
      ['SESSION_AUTHENTICATION_FAILED', 'HOST_IS_SLAVE'], 'read-only',
      'A pool member\'s agent logs in with its host credential (given at pool.join); the session may act only for that host.',
      { async: false, sessionless: true, hidden: true }),
    msg('logout', [], null, [], 'read-only', 'End the session used for the call.', { async: false }),
    // session.get_this_host(session, self) is the implicit getter of this_host.
  ],
};
