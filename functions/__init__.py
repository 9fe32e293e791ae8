"""AWS Lambda entry points: a Powertools resolver (``functions.handler``) and the FastAPI app through Mangum
(``functions.mangum_handler``), both serving the API's contract behind API Gateway HTTP API (payload v2).

``INIT_STARTED`` is read when the package is first imported, before either handler's imports, so the init
time the handlers report covers their imports as well as the model load.
"""

import time

INIT_STARTED = time.perf_counter()
