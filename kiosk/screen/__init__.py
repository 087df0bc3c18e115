"""The touch page: four smileys, the thank-you, the follow-up and a comment, served on loopback.

The page holds no state of its own: every tap is a POST to the kiosk process, which commits
it to the outbox before it answers, and the page draws whatever the kiosk says the shopper
is at. So a reload, or a browser that crashed and was restarted, resumes where it was, and
the network being down changes nothing on the screen.
"""

from kiosk.screen.app import Backend, Session, create_app, serve

__all__ = ["Backend", "Session", "create_app", "serve"]
