# The XenAPI module that xcpnet's test of Ansible's xenserver_facts puts first on PYTHONPATH:
# Debian's XenAPI.py (package python3-os-xenapi, 0.3.4), executed unchanged from its own file,
# less one method.
#
# Debian's UDSTransport overrides send_request(connection, handler, request_body), the hook of
# Python 2's xmlrpclib. Python 3's xmlrpc.client.Transport calls
# send_request(host, handler, request_body, debug) and reads the reply from the connection it
# returns, so every call through XenAPI.xapi_local() dies with a TypeError before a byte is sent,
# whatever the server. Without the override, Python's own Transport.send_request runs: it opens
# the connection through UDSTransport.make_connection (the unix socket, unchanged) and sends the
# request line, headers and body. xapi's current XenAPI.py has no send_request either
# (python3/examples/XenAPI/XenAPI.py in xapi's repository). Nothing else is changed.
DEBIAN_XENAPI = '/usr/lib/python3/dist-packages/os_xenapi/client/XenAPI.py'

with open(DEBIAN_XENAPI, encoding='utf-8') as source:
    exec(compile(source.read(), DEBIAN_XENAPI, 'exec'))

del UDSTransport.send_request  # noqa: F821 (defined by Debian's code above)
