from services.matcher.app import create_app
from shared.runtime import serve

serve(create_app, default_port=8003)
