/** The GraphQL documents the pages send (the refresh lives in refreshQueue.ts). */
import { gql, type TypedDocumentNode } from "@apollo/client";
import type { AuthPayload, User } from "./tokenStore";

export interface Session {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  userAgent: string | null;
  ipAddress: string | null;
  current: boolean;
}

interface Credentials {
  email: string;
  password: string;
}

const AUTH_PAYLOAD = gql`
  fragment AuthPayloadFields on AuthPayload {
    accessToken
    tokenType
    expiresIn
    user { id email userType createdAt }
  }
`;

export const LOGIN_USER: TypedDocumentNode<
  { loginUser: AuthPayload },
  Credentials
> = gql`
  mutation LoginUser($email: String!, $password: String!) {
    loginUser(email: $email, password: $password) { ...AuthPayloadFields }
  }
  ${AUTH_PAYLOAD}
`;

export const REGISTER_USER: TypedDocumentNode<
  { registerUser: AuthPayload },
  Credentials
> = gql`
  mutation RegisterUser($email: String!, $password: String!) {
    registerUser(email: $email, password: $password) { ...AuthPayloadFields }
  }
  ${AUTH_PAYLOAD}
`;

export const LOGOUT: TypedDocumentNode<{ logout: boolean }> = gql`
  mutation Logout {
    logout
  }
`;

export const ME: TypedDocumentNode<{ me: User }> = gql`
  query Me {
    me { id email userType createdAt }
  }
`;

export const SESSIONS: TypedDocumentNode<{ sessions: Session[] }> = gql`
  query Sessions {
    sessions {
      id
      createdAt
      lastUsedAt
      expiresAt
      userAgent
      ipAddress
      current
    }
  }
`;

export const REVOKE_SESSION: TypedDocumentNode<
  { revokeSession: boolean },
  { id: string }
> = gql`
  mutation RevokeSession($id: ID!) {
    revokeSession(id: $id)
  }
`;
