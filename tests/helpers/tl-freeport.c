/*
 * tl-freeport: print a TCP port free on 127.0.0.1, or with --check PORT
 * exit 0 if something accepts connections there.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return 1;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (argc == 3 && strcmp(argv[1], "--check") == 0) {
		a.sin_port = htons((unsigned short)atoi(argv[2]));
		return connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : 1;
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
		return 1;
	printf("%d\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}
