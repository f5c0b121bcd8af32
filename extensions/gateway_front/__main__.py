from twinhub.extensions.gateway_front.server import main

main()
