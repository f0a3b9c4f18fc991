/**
 * What the worker attaches to each request and response must hold whatever the app does to their
 * prototypes. Express (4 and 5) gives every request and response a prototype of its own, made from
 * node:http's (`Object.setPrototypeOf(req, app.request)`), which drops a subclass's methods: its
 * body limit, its `Connection: close`, its access-log counts. So the worker's request and response
 * classes (limits.ts, response.ts, access-log.ts, forwarded.ts) work from their constructors, which
 * node:http calls before the app sees the objects: they set fields and listeners, and install the
 * methods that must see every call on the instance itself, one shared function each (no closure per
 * request). Such a method does its part, then calls the one of the same name on the object's
 * prototype as it is at the time of the call (`inherited`): node:http's own, or what a framework put
 * in between. No two of the classes install the same name; a mounted app's response (site.ts) has
 * its writeHead put in front of the one installed before, which it calls.
 */
export function inherited<T extends object, K extends keyof T>(self: T, name: K): T[K] {
  return (Object.getPrototypeOf(self) as T)[name];
}
