from services.directory.app import create_app
from shared.runtime import serve

serve(create_app, default_port=8002)
